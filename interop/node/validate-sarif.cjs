// Validates a SARIF log (standard input) against the official SARIF 2.1.0
// JSON schema (OASIS, rtm.5), with ajv: an independent check of what
// `proofkey audit --format sarif` writes. Exit 0 valid, 1 invalid.
// The schema file comes with @microsoft/jest-sarif; only the JSON is used.
const Ajv = require('ajv');
const draft4 = require('ajv/lib/refs/json-schema-draft-04.json');
const schema = require('@microsoft/jest-sarif/lib/schemas/sarif-2.1.0-rtm.5.json');

let input = '';
process.stdin.on('data', (d) => { input += d; });
process.stdin.on('end', () => {
  const ajv = new Ajv({ schemaId: 'auto', allErrors: true, validateSchema: false });
  ajv.addMetaSchema(draft4);
  const validate = ajv.compile(schema);
  const log = JSON.parse(input);
  if (validate(log)) {
    console.log('valid SARIF 2.1.0');
    process.exit(0);
  }
  console.log(JSON.stringify(validate.errors, null, 2));
  process.exit(1);
});
