// ESM entry: the same implementation as the CommonJS one (index.js), so `instanceof`
// ExterosError holds whichever way the package was loaded.
import exteros from './index.js';

export const { authorize, Client, ExterosError, parseRetryAfter, VERSION, DEFAULT_BASE_URL } =
  exteros;
export default exteros;
