// Vite with React's plugin; nothing is needed for collab-textarea itself.
import react from '@vitejs/plugin-react'
import { defineConfig } from 'vite'

export default defineConfig({ plugins: [react()] })
