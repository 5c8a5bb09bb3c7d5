// Vite with Svelte's plugin; Svelte treats any tag with a hyphen as a custom element.
import { svelte } from '@sveltejs/vite-plugin-svelte'
import { defineConfig } from 'vite'

export default defineConfig({ plugins: [svelte()] })
