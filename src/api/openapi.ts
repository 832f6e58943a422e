/**
 * The OpenAPI 3.1 document of the server API, generated from the routes' zod schemas (zod's
 * JSON Schema output is draft 2020-12, the dialect OpenAPI 3.1 uses): what `GET
 * /api/openapi.json` serves.
 */
import { z } from 'zod';
import { API_PREFIX, type ApiRoute } from './route.ts';

export type JsonObject = { [k: string]: unknown };

/** The uniform error body every failure has. */
export const errorBodySchema = z.object({
  error: z.object({
    code: z.string().describe('A stable code from the error catalogue (docs/protocol.md, "Errors")'),
    message: z.string(),
    details: z.record(z.string(), z.union([z.string(), z.number()])).optional(),
  }),
});

function schemaOf(schema: z.ZodType, io: 'input' | 'output'): JsonObject {
  const json = z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12' }) as JsonObject;
  delete json.$schema;
  return json;
}

const jsonContent = (schema: JsonObject) => ({ 'application/json': { schema } });

/** `{id}` → the path's parameter names, in order. */
export function pathParams(template: string): string[] {
  return [...template.matchAll(/\{([A-Za-z0-9_]+)\}/g)].map((m) => m[1]!);
}

export function openApiDocument(routes: readonly ApiRoute[], version: string): JsonObject {
  const paths: Record<string, Record<string, JsonObject>> = {};
  for (const r of routes) {
    const path = `${API_PREFIX}${r.path}`;
    const status = String(r.status ?? 200);
    const parameters: JsonObject[] = pathParams(r.path).map((name) => ({
      name,
      in: 'path',
      required: true,
      schema: { type: 'string' },
    }));
    for (const q of r.query ?? []) {
      parameters.push({
        name: q.name,
        in: 'query',
        required: false,
        description: q.description,
        schema: { type: 'string' },
      });
    }
    if (r.method !== 'GET') {
      parameters.push({
        name: 'Idempotency-Key',
        in: 'header',
        required: false,
        description: 'Repeating a write with the same key has its effect once (1-64 printable ASCII)',
        schema: { type: 'string', maxLength: 64 },
      });
    }
    const op: JsonObject = {
      operationId: r.operationId,
      summary: r.summary,
      tags: [r.tag],
      parameters,
      responses: {
        [status]: { description: 'Success', content: jsonContent(schemaOf(r.response, 'output')) },
        default: {
          description: 'A typed error',
          content: jsonContent({ $ref: '#/components/schemas/Error' }),
        },
      },
    };
    if (r.body) op.requestBody = { required: true, content: jsonContent(schemaOf(r.body, 'input')) };
    paths[path] ??= {};
    paths[path][r.method.toLowerCase()] = op;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'globalchat server API',
      version,
      description: 'For app backends and operators (docs/operations.md, "Server API").',
    },
    servers: [{ url: '/' }],
    security: [{ bearer: [] }],
    paths,
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'An API key (`api.keys`) or an admin JWT' },
      },
      schemas: { Error: schemaOf(errorBodySchema, 'output') },
    },
  };
}
