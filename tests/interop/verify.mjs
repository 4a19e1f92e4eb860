#!/usr/bin/env node
// usage: node verify.mjs <credential.json> <did-document.json>
// Verifies every Data Integrity proof of the credential with Digital Bazaar's @digitalbazaar/vc
// (eddsa-rdfc-2022 and eddsa-jcs-2022 suites), fully offline. Prints a JSON report; exits 0
// only if EVERY proof in the credential was matched to a suite and verified (jsonld-signatures
// alone reports success when any one proof verifies).
import {readFileSync} from 'node:fs';
import * as vc from '@digitalbazaar/vc';
import {createDocumentLoader} from './loader.mjs';
import {verifyingSuites} from './suites.mjs';

const [credentialPath, didPath] = process.argv.slice(2);
if(!credentialPath || !didPath) {
  console.error('usage: node verify.mjs <credential.json> <did-document.json>');
  process.exit(2);
}
const credential = JSON.parse(readFileSync(credentialPath, 'utf8'));
const didDocument = JSON.parse(readFileSync(didPath, 'utf8'));
const documentLoader = createDocumentLoader({didDocuments: [didDocument]});

const result = await vc.verifyCredential({
  credential, suite: verifyingSuites(), documentLoader
});

const proofs = [].concat(credential.proof ?? []);
const perProof = proofs.map(proof => {
  const r = (result.results || []).find(x => x.proof && x.proof.proofValue === proof.proofValue);
  return {
    cryptosuite: proof.cryptosuite,
    verificationMethod: proof.verificationMethod,
    verified: Boolean(r && r.verified),
    error: r ? (r.error ? String(r.error.message || r.error) : null) : 'no suite matched this proof'
  };
});
const allVerified = perProof.length > 0 && perProof.every(p => p.verified);
const report = {
  verified: Boolean(result.verified) && allVerified,
  libraryVerified: Boolean(result.verified),
  proofs: perProof,
  error: result.error ? [].concat(result.error).map(e => String(e.message || e)) : null
};
console.log(JSON.stringify(report, null, 2));
process.exit(report.verified ? 0 : 1);
