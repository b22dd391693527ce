/**
 * The OpenAPI document (`/openapi.json`) and an interactive reference of it (`/docs`, Swagger UI). The
 * reference's scripts and styles are served from the swagger-ui-dist package by the service itself: the page
 * works offline and loads nothing from another origin. Its Content-Security-Policy, set on that page alone,
 * allows scripts from this origin only (no inline script: the initialiser is a file too).
 */
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import express, { type RequestHandler } from 'express';
import helmet from 'helmet';
import { z } from 'zod';
import { openApiDocument } from './openapi.js';
import { ApiRouter } from './route.js';

export const DOCS_PATH = '/docs';
const ASSETS = `${DOCS_PATH}/assets`;
/** The files of swagger-ui-dist the page uses; nothing else of the package is served. */
const PACKAGE_FILES = new Set(['/swagger-ui.css', '/swagger-ui-bundle.js', '/favicon-32x32.png', '/favicon-16x16.png']);

const INIT_SCRIPT = `window.addEventListener('load', function () {
  window.ui = SwaggerUIBundle({
    url: '/openapi.json',
    dom_id: '#reference',
    deepLinking: true,
    displayOperationId: true,
    displayRequestDuration: true,
    defaultModelsExpandDepth: 0,
    validatorUrl: null,
  });
});
`;

const PAGE = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>Freeda support API reference</title>
    <link rel="stylesheet" href="${ASSETS}/swagger-ui.css" />
    <link rel="icon" type="image/png" href="${ASSETS}/favicon-32x32.png" sizes="32x32" />
  </head>
  <body>
    <div id="reference"></div>
    <script src="${ASSETS}/swagger-ui-bundle.js"></script>
    <script src="${ASSETS}/init.js"></script>
  </body>
</html>
`;

/**
 * Same origin only. Swagger UI sets style attributes, hence 'unsafe-inline' for styles (not scripts); its
 * icons are data: images. No upgrade-insecure-requests: on a plain-HTTP laptop it would break every asset.
 */
const docsCsp = helmet.contentSecurityPolicy({
  useDefaults: false,
  directives: {
    'default-src': ["'self'"],
    'script-src': ["'self'"],
    'style-src': ["'self'", "'unsafe-inline'"],
    'img-src': ["'self'", 'data:'],
    'font-src': ["'self'", 'data:'],
    'connect-src': ["'self'"],
    'object-src': ["'none'"],
    'base-uri': ["'self'"],
    'form-action': ["'self'"],
    'frame-ancestors': ["'none'"],
  },
});

/**
 * The page's scripts and styles: static files, cacheable for a day (they change only with the package), so
 * mounted before the API's no-store.
 */
export function docsAssets(): RequestHandler {
  const dir = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
  const files = express.static(dir, { index: false, maxAge: '1d', fallthrough: true });
  const router = express.Router();
  router.use(ASSETS, helmet.xContentTypeOptions(), (req, res, next) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    if (req.path === '/init.js') {
      res.setHeader('Cache-Control', 'public, max-age=86400');
      return void res.type('application/javascript').send(INIT_SCRIPT);
    }
    if (PACKAGE_FILES.has(req.path)) return files(req, res, next);
    next();
  });
  return router;
}

export function docsRouter(registry: OpenAPIRegistry) {
  let document: ReturnType<typeof openApiDocument> | undefined;
  return new ApiRouter(registry)
    .add(
      {
        method: 'get',
        path: '/openapi.json',
        operationId: 'getOpenApiDocument',
        summary: 'This OpenAPI 3.1 document',
        tags: ['meta'],
        access: 'none',
        standalone: true,
        success: {
          status: 200,
          description: 'The document',
          schema: z.record(z.string(), z.unknown()).meta({ description: 'An OpenAPI 3.1 document' }),
        },
      },
      ({ res }) => {
        // Built on first use: every router has declared its routes by then.
        document ??= openApiDocument(registry);
        res.json(document);
      },
    )
    .add(
      {
        method: 'get',
        path: DOCS_PATH,
        operationId: 'getApiReference',
        summary: 'An interactive reference of this document, for people (HTML)',
        tags: ['meta'],
        access: 'none',
        standalone: true,
        success: { status: 200, description: 'The reference page', mediaType: 'text/html' },
      },
      ({ req, res }) =>
        new Promise<void>((resolve, reject) => {
          docsCsp(req, res, (err?: unknown) => {
            if (err) return reject(err);
            res.type('html').send(PAGE);
            resolve();
          });
        }),
    ).router;
}
