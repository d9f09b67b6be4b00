// Validates docs/openapi.yaml with @apidevtools/swagger-parser (schema and references)
// and checks that it documents exactly the API's paths and methods (given as
// "METHOD /path" arguments). Exit 1 on a failure.
const SwaggerParser = require('@apidevtools/swagger-parser');

const [file, ...want] = process.argv.slice(2);
SwaggerParser.validate(file)
  .then((api) => {
    const have = [];
    for (const [path, item] of Object.entries(api.paths)) {
      for (const method of ['get', 'put', 'post', 'delete', 'patch']) {
        if (item[method]) have.push(`${method.toUpperCase()} ${path}`);
      }
    }
    const missing = want.filter((x) => !have.includes(x));
    const extra = have.filter((x) => !want.includes(x));
    if (missing.length || extra.length) {
      console.log(`FAIL ${file}: undocumented ${JSON.stringify(missing)}, not served ${JSON.stringify(extra)}`);
      process.exit(1);
    }
    console.log(`${file}: valid OpenAPI ${api.openapi}, ${have.length} operations`);
  })
  .catch((err) => {
    console.log(`FAIL ${file}: ${err.message}`);
    process.exit(1);
  });
