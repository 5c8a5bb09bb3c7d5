// The Vue app; importing the package defines <collab-textarea>.
import 'collab-textarea'
import { createApp } from 'vue'
import App from './App.vue'

createApp(App).mount('#app')
