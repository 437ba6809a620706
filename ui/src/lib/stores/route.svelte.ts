// The current route, following the location hash.

import { parseRoute, type Route } from '../route';

class CurrentRoute {
  value = $state<Route>(parseRoute(location.hash));

  constructor() {
    window.addEventListener('hashchange', () => {
      this.value = parseRoute(location.hash);
    });
  }
}

export const route = new CurrentRoute();

export function go(hash: string): void {
  location.hash = hash;
}
