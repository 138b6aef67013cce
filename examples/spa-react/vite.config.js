import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// Writ only lists http://127.0.0.1:5173/ and http://localhost:5173/ as the demo SPA's
// callbacks and web origins, so both the dev server and the preview keep to that port.
const loopback = { host: '127.0.0.1', port: 5173, strictPort: true };

export default defineConfig({
  plugins: [react()],
  // writ-live comes from this repository (packages/writ-live, a `file:` dependency): its React
  // hook must use this app's React, not look for one beside its own sources.
  resolve: { dedupe: ['react', 'react-dom'] },
  server: loopback,
  preview: loopback,
  build: { outDir: 'dist', sourcemap: true },
});
