// Offline JSON-LD document loader for the interop checks.
// Serves ONLY: the context files bundled in creditbank/contexts (read from disk through the
// same index.json the Python loader uses), the DID documents given to it (plus their
// verification methods, by fragment URL) and Ed25519 did:key documents, derived from the key. Anything else is an error: nothing is fetched.
import {readFileSync} from 'node:fs';
import {dirname, join} from 'node:path';
import {fileURLToPath} from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const CONTEXTS_DIR = join(here, '..', '..', 'creditbank', 'contexts');
const MULTIKEY_V1 = 'https://w3id.org/security/multikey/v1';

export function bundledContexts() {
  const index = JSON.parse(readFileSync(join(CONTEXTS_DIR, 'index.json'), 'utf8'));
  const docs = new Map();
  for(const [url, file] of Object.entries(index)) {
    docs.set(url, JSON.parse(readFileSync(join(CONTEXTS_DIR, file), 'utf8')));
  }
  return docs;
}

// did:key for Ed25519 (z6Mk…): the DID document is derived from the key itself, nothing fetched.
export function didKeyDocument(did) {
  const key = did.slice('did:key:'.length);
  const vm = `${did}#${key}`;
  return {
    '@context': ['https://www.w3.org/ns/did/v1', MULTIKEY_V1],
    id: did,
    verificationMethod: [{id: vm, type: 'Multikey', controller: did, publicKeyMultibase: key}],
    assertionMethod: [vm],
    authentication: [vm]
  };
}

export function createDocumentLoader({didDocuments = []} = {}) {
  const contexts = bundledContexts();
  const dids = new Map(didDocuments.map(d => [d.id, d]));

  return async function documentLoader(url) {
    if(contexts.has(url)) {
      return {contextUrl: null, documentUrl: url, document: structuredClone(contexts.get(url))};
    }
    const [did, fragment] = url.split('#');
    if(did.startsWith('did:key:z6Mk') && !dids.has(did)) {
      dids.set(did, didKeyDocument(did));
    }
    const didDoc = dids.get(did);
    if(didDoc && fragment === undefined) {
      return {contextUrl: null, documentUrl: url, document: structuredClone(didDoc)};
    }
    if(didDoc) {
      const methods = [...(didDoc.verificationMethod || []), ...(didDoc.assertionMethod || [])]
        .filter(m => typeof m === 'object');
      const vm = methods.find(m => m.id === url || m.id === `#${fragment}`);
      if(vm) {
        return {
          contextUrl: null,
          documentUrl: url,
          document: {'@context': MULTIKEY_V1, ...structuredClone(vm)}
        };
      }
    }
    throw new Error(`offline document loader: refusing to load ${url}`);
  };
}
