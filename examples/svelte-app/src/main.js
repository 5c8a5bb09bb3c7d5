// The Svelte app; importing the package defines <collab-textarea>.
import 'collab-textarea'
import { mount } from 'svelte'
import App from './App.svelte'

mount(App, { target: document.getElementById('app') })
