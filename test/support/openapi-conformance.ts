/**
 * Checks real responses against the service's own OpenAPI document: the status is declared for the
 * operation, the body matches the declared schema (JSON Schema 2020-12 through ajv, formats included), every
 * required header is there and matches its schema, and no API header is sent without being declared.
 */

import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { expect } from 'chai';
import type { Response } from 'supertest';

// biome-ignore lint/suspicious/noExplicitAny: an OpenAPI document is walked as plain JSON
type Json = any;

// ajv-formats is CommonJS: its function is the module's `default` export once loaded as ESM.
const addFormats = addFormatsModule.default;

/** Headers with a meaning in the API contract: if the service sends one, the document must declare it. */
const CONTRACT_HEADERS = [
  'set-cookie',
  'allow',
  'cache-control',
  'content-disposition',
  'etag',
  'idempotent-replayed',
  'location',
  'ratelimit',
  'ratelimit-policy',
  'retry-after',
  'www-authenticate',
  'x-request-id',
];

export interface Operation {
  operationId: string;
  method: string;
  path: string;
  op: Json;
}

export class Conformance {
  readonly operations = new Map<string, Operation>();
  private readonly ajv = new Ajv2020({ strict: false, allErrors: true });
  private readonly validators = new Map<string, ReturnType<Ajv2020['compile']>>();

  constructor(readonly doc: Json) {
    addFormats(this.ajv);
    this.ajv.addSchema(doc, 'openapi.json');
    for (const [path, item] of Object.entries(doc.paths as Record<string, Record<string, Json>>)) {
      for (const [method, op] of Object.entries(item)) {
        this.operations.set(op.operationId, { operationId: op.operationId, method, path, op });
      }
    }
  }

  operation(operationId: string): Operation {
    const found = this.operations.get(operationId);
    if (!found) expect.fail(`the document has no operation ${operationId}`);
    return found;
  }

  private validator(schema: Json) {
    // Schemas under paths refer to #/components/...: resolve those inside the document registered above.
    const text = JSON.stringify(schema).replaceAll('"#/components/', '"openapi.json#/components/');
    let validate = this.validators.get(text);
    if (!validate) {
      validate = this.ajv.compile(JSON.parse(text));
      this.validators.set(text, validate);
    }
    return validate;
  }

  private resolve(node: Json): Json {
    if (!node?.$ref) return node;
    const pointer = String(node.$ref).replace(/^#\//, '').split('/');
    return pointer.reduce((at: Json, key) => at[key.replaceAll('~1', '/').replaceAll('~0', '~')], this.doc);
  }

  private check(where: string, schema: Json, value: unknown): void {
    const validate = this.validator(schema);
    if (!validate(value)) {
      expect.fail(
        `${where} does not match its schema: ${this.ajv.errorsText(validate.errors)}\n${JSON.stringify(value)}`,
      );
    }
  }

  /** Fails unless `res` is a response the document allows for `operationId`. */
  conforms(operationId: string, res: Response): void {
    const { method, path, op } = this.operation(operationId);
    const what = `${method.toUpperCase()} ${path} (${operationId}) -> ${res.status}`;
    const declared = op.responses[String(res.status)];
    expect(declared, `${what}: status not declared (declared: ${Object.keys(op.responses).join(', ')})`).to.exist;
    const response = this.resolve(declared);

    const headers: Record<string, Json> = {};
    for (const [name, header] of Object.entries(response.headers ?? {})) {
      headers[name.toLowerCase()] = this.resolve(header);
    }
    for (const [name, header] of Object.entries(headers)) {
      const raw = res.headers[name] as string | string[] | undefined;
      const value = Array.isArray(raw) ? raw.join(', ') : raw;
      if (value === undefined) {
        expect(header.required, `${what}: required header ${name} missing`).to.not.equal(true);
        continue;
      }
      const typed = header.schema?.type === 'integer' && /^\d+$/.test(value) ? Number(value) : value;
      this.check(`${what}: header ${name}`, header.schema, typed);
    }
    for (const name of CONTRACT_HEADERS) {
      if (res.headers[name] !== undefined) {
        expect(headers, `${what}: sends ${name}: ${res.headers[name]} without declaring it`).to.have.property(name);
      }
    }

    const content = response.content as Record<string, Json> | undefined;
    if (!content) {
      expect(res.text ?? '', `${what}: a body where none is declared`).to.equal('');
      return;
    }
    const mediaType =
      String(res.headers['content-type'] ?? '')
        .split(';')[0]
        ?.trim() ?? '';
    expect(Object.keys(content), `${what}: media type ${mediaType} not declared`).to.include(mediaType);
    const body = mediaType === 'application/json' ? res.body : res.text;
    this.check(`${what}: body`, content[mediaType].schema, body);
  }
}

/** Every route the Express app serves, as `METHOD /openapi/{style}` (the 405 guard's catch-alls left out). */
export function appRoutes(app: Json): string[] {
  const routes: string[] = [];
  const walk = (stack: Json[]) => {
    for (const layer of stack) {
      if (layer.route) {
        for (const method of Object.keys(layer.route.methods)) {
          if (method === '_all') continue;
          routes.push(`${method.toUpperCase()} ${String(layer.route.path).replace(/:(\w+)/g, '{$1}')}`);
        }
      } else if (Array.isArray(layer.handle?.stack)) {
        walk(layer.handle.stack);
      }
    }
  };
  walk(app.router.stack);
  return routes;
}
