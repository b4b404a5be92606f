export { createSchemaValidator, type SchemaValidatorOptions } from "./validator.ts";
