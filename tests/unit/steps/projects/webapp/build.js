// The "build": writes dist/app.js.
const fs = require('node:fs');
fs.mkdirSync('dist', { recursive: true });
fs.writeFileSync('dist/app.js', 'console.log("hello");\n');
console.log('built dist/app.js');
