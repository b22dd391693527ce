/**
 * Smart replies: instant canned answers, with no model call, for messages that are ONLY a greeting, thanks,
 * a goodbye, or one of the known simple questions (invoices, password, reaching a person, shops, moving,
 * outage). "Only" is the rule: once politeness and grammar words are set aside, every word left must belong
 * to a single topic. "Bonjour, ma fibre est coupée depuis 3 jours" keeps "fibre", "coupee", "depuis", "jours",
 * which belong to no canned topic, so it goes to the model (the old rule answered it with a greeting).
 */
import { signed } from './persona.js';

export type SmartReplyKind =
  | 'greeting'
  | 'thanks'
  | 'goodbye'
  | 'invoices'
  | 'password'
  | 'human'
  | 'shops'
  | 'moving'
  | 'outage';

export interface SmartReply {
  kind: SmartReplyKind;
  text: string;
}

/** Longer messages are never "only" a greeting or a simple question. */
const MAX_WORDS = 16;

/** Multi-word expressions, matched on the normalised text before it is cut into words. */
const PHRASES: Array<[RegExp, string]> = [
  [/\bs ?il (?:vous|te) plait\b/g, ' _polite '],
  [/\bau revoir\b|\ba bientot\b|\ba plus\b|\ba\+|\bbonne (?:fin de )?(?:journee|soiree|nuit|semaine)\b/g, ' _bye '],
  [/\bsee you\b|\bgood ?bye\b/g, ' _bye '],
  [/\bmots? de passe\b|\bcode d acces\b/g, ' _password '],
  [/\bservice (?:client|clientele)\b|\bquelqu un\b|\bvraie? personne\b/g, ' _human '],
  [/\bfree ?center\b|\bfree ?store\b/g, ' _shop '],
  [/\bpanne generale\b|\bcoupure generale\b|\bincident reseau\b/g, ' _outage '],
  [/\bnouvelle adresse\b/g, ' _moving '],
];

const GREETING = new Set(['bonjour', 'bonsoir', 'salut', 'hello', 'coucou', 'hey', 'hi', 'bjr', 'slt', 'yo', 're']);
const THANKS = new Set([
  'merci',
  'mercii',
  'remercie',
  'remercions',
  'thanks',
  'thank',
  'thx',
  'cimer',
  'top',
  'super',
  'parfait',
  'genial',
  'nickel',
  'ok',
  'okay',
  'accord',
  'entendu',
  'beaucoup',
  'bien',
  'recu',
  'tres',
  'vraiment',
  'infiniment',
  'mille',
  'fois',
  'cool',
]);
const GOODBYE = new Set(['_bye', 'bye', 'adieu', 'ciao', 'bisous']);

/** Grammar and politeness words that carry no topic. */
const FILLER = new Set(
  (
    '_polite svp stp please pls madame monsieur mme m je j vous tu te me m moi mon ma mes votre vos ton ta tes ' +
    'le la les l un une des de du d a au aux pour sur en et ou comment quel quelle quels quelles que qu quoi ' +
    'est ce c il y t on puis peux peut pouvez pourriez pourrais voudrais veux voulais souhaite souhaiterais ' +
    'aimerais faire faut dois doit avoir ai ne n pas plus encore aide aider besoin dans s i my the to do how can ' +
    'where is are what please want need with'
  ).split(' '),
);

/** Verbs that go with any topic ("voir ma facture", "changer mon mot de passe", "trouver une boutique"). */
const GENERIC = new Set(
  (
    'voir consulter trouver retrouver telecharger obtenir recevoir acceder acces changer modifier payer regler ' +
    'connaitre savoir verifier find get see change'
  ).split(' '),
);

interface Topic {
  kind: SmartReplyKind;
  /** At least one of these must be present. */
  anchors: Set<string>;
  /** Words that may accompany the anchors without making it another question. */
  extras: Set<string>;
  text: string;
}

const words = (s: string) => new Set(s.split(' '));

const TOPICS: Topic[] = [
  {
    kind: 'invoices',
    anchors: words('facture factures facturation paiement paiements prelevement prelevements montant invoice bill'),
    extras: words('derniere dernier mois mensuelle pdf moyen echeance date invoices bills'),
    text:
      'Vos factures sont disponibles dans votre Espace Abonné, rubrique « Ma facture » : vous pouvez les consulter, ' +
      'les télécharger en PDF et suivre vos prélèvements. Pour changer de moyen de paiement, rendez-vous dans ' +
      '« Mes informations ». Si un montant vous semble anormal, décrivez-le-moi et un conseiller le vérifiera.',
  },
  {
    kind: 'password',
    anchors: words('_password mdp password identifiant identifiants login'),
    extras: words('oublie perdu reinitialiser reinitialisation nouveau connecter connexion espace abonne forgot reset'),
    text:
      'Pour réinitialiser votre mot de passe, cliquez sur « Identifiant ou mot de passe oublié ? » sur la page de ' +
      "connexion de l'Espace Abonné, puis suivez le lien reçu par e-mail. Pour votre sécurité, ne communiquez " +
      'jamais votre mot de passe, même à un conseiller.',
  },
  {
    kind: 'human',
    anchors: words('_human humain humaine conseiller conseillere agent operateur 3244 human'),
    extras: words('parler joindre contacter appeler telephone numero echanger avec real person talk'),
    text:
      'Vous pouvez joindre un conseiller au 3244 depuis votre ligne Free, ou vous rendre dans une boutique Free. ' +
      'Votre demande est aussi enregistrée ici : un conseiller vous répondra directement dans cette conversation.',
  },
  {
    kind: 'shops',
    anchors: words('_shop boutique boutiques magasin magasins shop store agence'),
    extras: words('proche proches pres chez moi adresse horaires ouverte ouvert ville nearest'),
    text:
      'Vous trouverez la boutique Free la plus proche de chez vous, avec ses horaires et ses services, sur la page ' +
      '« Boutiques Free » du site free.fr. Les conseillers en boutique peuvent vous aider pour votre abonnement, ' +
      'votre Freebox et votre mobile.',
  },
  {
    kind: 'moving',
    anchors: words('_moving demenagement demenager demenage demenagements moving move'),
    extras: words('transferer transfert ligne box freebox abonnement offre bientot prochainement declarer'),
    text:
      'Pour un déménagement, déclarez votre nouvelle adresse dans votre Espace Abonné, rubrique « Déménager » : ' +
      "vous y vérifiez l'éligibilité de votre futur logement et choisissez la date de transfert de votre ligne. " +
      'Votre Freebox vous suit : emportez-la avec tous ses accessoires.',
  },
  {
    kind: 'outage',
    anchors: words('_outage panne pannes incident incidents outage'),
    extras: words('generale general reseau cours secteur quartier zone region ville actuellement moment signale'),
    text:
      "Vous pouvez vérifier s'il y a un incident en cours près de chez vous sur la page « État du réseau » de " +
      "l'assistance Free. Si rien n'est signalé, redémarrez votre Freebox (débranchez-la 30 secondes) ; si le " +
      'problème persiste, décrivez-le-moi ici et un conseiller prendra le relais.',
  },
];

const SOCIAL: Record<'greeting' | 'thanks' | 'goodbye', string> = {
  greeting:
    "Bonjour ! Je suis l'assistant du service client Free. Comment puis-je vous aider ? Décrivez-moi votre " +
    'demande (connexion, facture, offre, mobile...).',
  thanks: 'Avec plaisir ! Si vous avez une autre question, je reste à votre disposition.',
  goodbye: "Merci de votre message et bonne journée ! N'hésitez pas à revenir vers nous si besoin.",
};

/** Lowercase, no accents, apostrophes and punctuation turned into spaces, phrases turned into tokens. */
export function normalise(message: string): string[] {
  let text = message.toLowerCase().normalize('NFD').replace(/\p{M}/gu, '').replace(/[’'`]/g, ' ');
  text = text.replace(/[^\p{L}\p{N}+_]+/gu, ' ');
  for (const [pattern, token] of PHRASES) text = text.replace(pattern, token);
  return text.split(' ').filter((w) => w && w !== '+');
}

/** The canned answer when the message is nothing more than a greeting, thanks, goodbye or a known question. */
export function smartReply(message: string): SmartReply | undefined {
  const tokens = normalise(message);
  if (tokens.length === 0 || tokens.length > MAX_WORDS) return undefined;

  const social = { greeting: false, thanks: false, goodbye: false };
  const topical: string[] = [];
  for (const t of tokens) {
    if (GREETING.has(t)) social.greeting = true;
    else if (GOODBYE.has(t)) social.goodbye = true;
    else if (THANKS.has(t)) social.thanks = true;
    else if (!FILLER.has(t)) topical.push(t);
  }

  if (topical.length === 0) {
    const kind = social.goodbye ? 'goodbye' : social.thanks ? 'thanks' : social.greeting ? 'greeting' : undefined;
    return kind && { kind, text: signed(SOCIAL[kind]) };
  }
  const topic = TOPICS.find(
    (t) =>
      topical.some((w) => t.anchors.has(w)) &&
      topical.every((w) => t.anchors.has(w) || t.extras.has(w) || GENERIC.has(w)),
  );
  return topic && { kind: topic.kind, text: signed(topic.text) };
}
