/**
 * Placeholders of a canned response, filled when an agent sends it: `{{customer.name}}` and `{{agent.name}}`
 * (spaces inside the braces allowed). A missing value gets a fallback that still reads well ("Hello there");
 * any other `{{...}}` stays as typed, so a typo shows in the sent text rather than vanishing.
 */
export interface PlaceholderValues {
  customerName?: string;
  agentName: string;
}

/** Said when the ticket has no customer name: "Hello {{customer.name}}" reads "Hello there". */
export const CUSTOMER_FALLBACK = 'there';

const PLACEHOLDER = /\{\{\s*(customer\.name|agent\.name)\s*\}\}/g;

export function fillPlaceholders(text: string, values: PlaceholderValues): string {
  const customer = values.customerName?.trim() || CUSTOMER_FALLBACK;
  // A function replacement: a `$&` or `$1` in a customer's name is inserted as typed.
  return text.replace(PLACEHOLDER, (_, name: string) => (name === 'customer.name' ? customer : values.agentName));
}
