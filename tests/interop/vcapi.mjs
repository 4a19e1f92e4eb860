#!/usr/bin/env node
// Digital Bazaar's side of the VC-API tests (tests/vcapi/test_vcapi.py), fully offline.
//
//   node vcapi.mjs sign-vc <in.json> <out.json>
//       signs the credential as a fresh did:key (its issuer is set to that DID) with one
//       eddsa-rdfc-2022 and one eddsa-jcs-2022 proof; prints {"did": …}
//   node vcapi.mjs sign-chain <in.json> <out.json> [<previousProof>]
//       two eddsa-rdfc-2022 proofs, the first with id urn:uuid:first-proof, the second naming
//       <previousProof> (default: the first)
//   node vcapi.mjs sign-vp <presentation.json> <out.json> <challenge> <domain>
//       signs every credential inside (issuer: the holder's fresh did:key) and then the
//       presentation itself (proofPurpose authentication, with the challenge and domain)
//   node vcapi.mjs verify-vc <credential.json>
//       verifies every proof, resolving did:key locally; prints a report, exits 0 only if all verify
import {readFileSync, writeFileSync} from 'node:fs';
import * as vc from '@digitalbazaar/vc';
import * as Ed25519Multikey from '@digitalbazaar/ed25519-multikey';
import {createDocumentLoader} from './loader.mjs';
import {JCS, RDFC, signingSuite, verifyingSuites} from './suites.mjs';

const documentLoader = createDocumentLoader();
const [command, ...args] = process.argv.slice(2);
const read = path => JSON.parse(readFileSync(path, 'utf8'));

async function didKey() {
  const keyPair = await Ed25519Multikey.generate();
  const did = `did:key:${keyPair.publicKeyMultibase}`;
  keyPair.id = `${did}#${keyPair.publicKeyMultibase}`;
  keyPair.controller = did;
  return {did, keyPair};
}

async function signCredential(credential, {did, keyPair}) {
  let signed = {...structuredClone(credential), issuer: did};
  for(const cryptosuite of [RDFC, JCS]) {
    signed = await vc.issue({credential: signed, suite: signingSuite(cryptosuite, keyPair.signer()), documentLoader});
  }
  return signed;
}

if(command === 'sign-vc') {
  const [inPath, outPath] = args;
  const holder = await didKey();
  writeFileSync(outPath, JSON.stringify(await signCredential(read(inPath), holder), null, 2));
  console.log(JSON.stringify({did: holder.did}));
} else if(command === 'sign-chain') {
  // two eddsa-rdfc-2022 proofs, the second naming the first (previousProof), as the W3C suites make them
  const [inPath, outPath, reference = 'urn:uuid:first-proof'] = args;
  const holder = await didKey();
  const first = signingSuite(RDFC, holder.keyPair.signer());
  first.proof = {id: 'urn:uuid:first-proof'};
  const second = signingSuite(RDFC, holder.keyPair.signer());
  second.proof = {previousProof: reference};
  let signed = {...read(inPath), issuer: holder.did};
  for(const suite of [first, second]) {
    signed = await vc.issue({credential: signed, suite, documentLoader});
  }
  writeFileSync(outPath, JSON.stringify(signed, null, 2));
  console.log(JSON.stringify({did: holder.did}));
} else if(command === 'sign-vp') {
  const [inPath, outPath, challenge, domain] = args;
  const holder = await didKey();
  const presentation = read(inPath);
  presentation.holder = holder.did;
  if(presentation.verifiableCredential) {
    presentation.verifiableCredential = await Promise.all(
      [].concat(presentation.verifiableCredential).map(c => c.proof ? c : signCredential(c, holder)));
  }
  const signed = await vc.signPresentation({
    presentation, suite: signingSuite(RDFC, holder.keyPair.signer()), challenge, domain, documentLoader
  });
  writeFileSync(outPath, JSON.stringify(signed, null, 2));
  console.log(JSON.stringify({did: holder.did}));
} else if(command === 'verify-vc') {
  const credential = read(args[0]);
  const result = await vc.verifyCredential({credential, suite: verifyingSuites(), documentLoader});
  const proofs = [].concat(credential.proof ?? []).map(proof => {
    const r = (result.results || []).find(x => x.proof && x.proof.proofValue === proof.proofValue);
    return {
      cryptosuite: proof.cryptosuite,
      verified: Boolean(r && r.verified),
      error: r ? (r.error ? String(r.error.message || r.error) : null) : 'no suite matched this proof'
    };
  });
  const verified = Boolean(result.verified) && proofs.length > 0 && proofs.every(p => p.verified);
  console.log(JSON.stringify({verified, proofs}, null, 2));
  process.exit(verified ? 0 : 1);
} else {
  console.error('usage: node vcapi.mjs sign-vc|sign-vp|verify-vc …');
  process.exit(2);
}
