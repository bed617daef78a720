import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import Ajv from 'ajv';

/**
 * Validation against hydra-node 1.3.0's own `api.yaml` (an AsyncAPI document whose components
 * are JSON schemas): used by the tests to check that every message the embedded head sends is
 * one a real hydra-node could have sent.
 */
const require = createRequire(import.meta.url);
const yaml = require('js-yaml') as { load(text: string): unknown };

/** `shared/` stands beside the repository (on developers' machines and in CI). */
export const HYDRA_API_DIR = new URL('../../../../shared/hydra-api/1.3.0/', import.meta.url);

const rewriteRefs = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(rewriteRefs);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([key, inner]) => [
        key,
        key === '$ref' && typeof inner === 'string'
          ? inner.replace(/^api\.yaml#/, 'hydra-api#')
          : rewriteRefs(inner),
      ]),
    );
  }
  return value;
};

export interface HydraApiValidator {
  /** Null when `value` validates against `components/schemas/<name>`, else the errors. */
  check(name: string, value: unknown): string | null;
  schemaNames(): string[];
}

export const loadHydraApiValidator = (apiDir: URL = HYDRA_API_DIR): HydraApiValidator => {
  const doc = rewriteRefs(yaml.load(readFileSync(new URL('api.yaml', apiDir), 'utf8'))) as {
    components: { schemas: Record<string, unknown> };
  };
  const ajv = new Ajv({
    allErrors: true,
    schemaId: 'auto',
    unknownFormats: 'ignore',
    extendRefs: 'ignore',
    logger: false,
  });
  ajv.addSchema(doc as object, 'hydra-api');
  return {
    check(name, value) {
      if (!(name in doc.components.schemas)) return `no schema named ${name} in api.yaml`;
      const validate = ajv.getSchema(`hydra-api#/components/schemas/${name}`);
      if (!validate) return `cannot compile schema ${name}`;
      if (validate(value)) return null;
      return ajv.errorsText(validate.errors);
    },
    schemaNames: () => Object.keys(doc.components.schemas),
  };
};
