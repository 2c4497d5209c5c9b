// The "build": copies src/ to dist/ with a banner, as a bundler would write its output.
const fs = require('node:fs');
const path = require('node:path');

fs.mkdirSync('dist', { recursive: true });
for (const name of fs.readdirSync('src')) {
  const source = fs.readFileSync(path.join('src', name), 'utf8');
  fs.writeFileSync(path.join('dist', name), `// built by build.js\n${source}`);
  console.log(`built dist/${name}`);
}
