/**
 * Password strength with zxcvbn-ts (a maintained port of Dropbox's estimator): common passwords, words,
 * repetitions, sequences, keyboard walks and the user's own name or e-mail all count as guessable. The check
 * runs on the NFKC form the hash is computed from, so fullwidth `ａａａ…` is judged as the `aaa…` it becomes.
 */
import { ZxcvbnFactory } from '@zxcvbn-ts/core';
import * as common from '@zxcvbn-ts/language-common';
import * as en from '@zxcvbn-ts/language-en';

/** zxcvbn's 0-4 scale; 3 is "safely unguessable: moderate protection from an offline slow-hash attack". */
export const MIN_PASSWORD_SCORE = 3;

let estimator: ZxcvbnFactory | undefined;
// Built on first use: loading the dictionaries takes a moment the start of the process need not pay.
const zxcvbn = () =>
  (estimator ??= new ZxcvbnFactory({
    dictionary: { ...common.dictionary, ...en.dictionary },
    graphs: common.adjacencyGraphs,
    translations: en.translations,
  }));

/** Why the password is too weak, in words a person can act on; undefined when it is strong enough. */
export function passwordWeakness(password: string, userInputs: string[] = []): string | undefined {
  const result = zxcvbn().check(password.normalize('NFKC'), userInputs);
  if (result.score >= MIN_PASSWORD_SCORE) return undefined;
  const advice = [result.feedback.warning, ...result.feedback.suggestions].filter(Boolean).join(' ');
  return `too easy to guess${advice ? `: ${advice}` : ''} A few uncommon words make a strong password.`.trim();
}
