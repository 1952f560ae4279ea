// The sidecar: a Node.js program the app runs as a child process.
const [name] = process.argv.slice(2);
if (name === '--check') process.exit(0); // what the build runs it with (verify-args)
console.log(`Hello, ${name ?? 'app'}, from the sidecar on node ${process.version}`);
