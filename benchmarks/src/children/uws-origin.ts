// Child process: a uWebSockets.js origin answering every request with a fixed body.
// Usage: node uws-origin.js HOST PORT BODY
import uWS from 'uWebSockets.js';

const [host = '127.0.0.1', portArg = '0', body = 'portcullis-bench-ok\n'] = process.argv.slice(2);

uWS
  .App()
  .any('/*', (res) => {
    res.writeHeader('Content-Type', 'text/plain').end(body);
  })
  .listen(host, Number(portArg), (token) => {
    if (!token) {
      console.error(`uws-origin: cannot listen on ${host}:${portArg}`);
      process.exit(1);
    }
    console.log(JSON.stringify({ msg: 'ready', host, port: Number(portArg) }));
  });
