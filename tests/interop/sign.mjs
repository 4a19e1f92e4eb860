#!/usr/bin/env node
// usage: node sign.mjs <unsigned.json> <out.json> [<did-document-out.json>]
// Generates a fresh Ed25519 Multikey for the credential's issuer (a DID), signs the credential
// with Digital Bazaar's @digitalbazaar/vc — one eddsa-rdfc-2022 and one eddsa-jcs-2022 proof,
// a proof set — and writes the signed credential to <out.json> and the issuer's DID document
// (default: <out>.did.json). Offline: contexts come from creditbank/contexts.
import {readFileSync, writeFileSync} from 'node:fs';
import * as vc from '@digitalbazaar/vc';
import * as Ed25519Multikey from '@digitalbazaar/ed25519-multikey';
import {createDocumentLoader} from './loader.mjs';
import {JCS, RDFC, signingSuite} from './suites.mjs';

const [unsignedPath, outPath, didOutArg] = process.argv.slice(2);
if(!unsignedPath || !outPath) {
  console.error('usage: node sign.mjs <unsigned.json> <out.json> [<did-document-out.json>]');
  process.exit(2);
}
const didOutPath = didOutArg || outPath.replace(/(\.json)?$/, '.did.json');
const credential = JSON.parse(readFileSync(unsignedPath, 'utf8'));
const issuer = typeof credential.issuer === 'string' ? credential.issuer : credential.issuer?.id;
if(!issuer || !issuer.startsWith('did:')) {
  console.error('the credential issuer must be a DID');
  process.exit(2);
}

const keyPair = await Ed25519Multikey.generate({id: `${issuer}#key-1`, controller: issuer});
const publicKey = await keyPair.export({publicKey: true, includeContext: false});
const didDocument = {
  '@context': ['https://www.w3.org/ns/did/v1', 'https://w3id.org/security/multikey/v1'],
  id: issuer,
  verificationMethod: [publicKey],
  assertionMethod: [publicKey.id]
};
const documentLoader = createDocumentLoader({didDocuments: [didDocument]});
const date = process.env.SIGN_DATE || undefined;

let signed = structuredClone(credential);
for(const cryptosuite of [RDFC, JCS]) {
  const suite = signingSuite(cryptosuite, keyPair.signer(), date);
  signed = await vc.issue({credential: signed, suite, documentLoader});
}
writeFileSync(outPath, JSON.stringify(signed, null, 2) + '\n');
writeFileSync(didOutPath, JSON.stringify(didDocument, null, 2) + '\n');
console.log(JSON.stringify({credential: outPath, didDocument: didOutPath}));
