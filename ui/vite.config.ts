import { defineConfig } from 'vitest/config';
import { svelte } from '@sveltejs/vite-plugin-svelte';

// `npm run dev` proxies the API to a running `ferry serve` (FERRY_URL, default :8080).
const ferry = process.env.FERRY_URL ?? 'http://127.0.0.1:8080';

export default defineConfig({
  plugins: [svelte()],
  server: { proxy: { '/api': ferry } },
  test: { include: ['src/**/*.test.ts'] },
});
