import {DataIntegrityProof} from '@digitalbazaar/data-integrity';
import {cryptosuite as rdfcCryptosuite} from '@digitalbazaar/eddsa-rdfc-2022-cryptosuite';
import {
  createSignCryptosuite as createJcsSignCryptosuite,
  createVerifyCryptosuite as createJcsVerifyCryptosuite
} from '@digitalbazaar/eddsa-jcs-2022-cryptosuite';

export const RDFC = 'eddsa-rdfc-2022';
export const JCS = 'eddsa-jcs-2022';

export function signingSuite(cryptosuite, signer, date) {
  const impl = cryptosuite === RDFC ? rdfcCryptosuite : createJcsSignCryptosuite();
  return new DataIntegrityProof({signer, date, cryptosuite: impl});
}

export function verifyingSuites() {
  return [
    new DataIntegrityProof({cryptosuite: rdfcCryptosuite}),
    new DataIntegrityProof({cryptosuite: createJcsVerifyCryptosuite()})
  ];
}
