// Child process: the WebSocket origin of the upgrade benchmark. uWebSockets.js echoing every
// message as it came (text as text, binary as binary), and answering plain HTTP with a fixed body
// so the runner's readiness probes work. Usage: node ws-echo-origin.js HOST PORT BODY
import uWS from 'uWebSockets.js';

const [host = '127.0.0.1', portArg = '0', body = 'portcullis-bench-ok\n'] = process.argv.slice(2);

uWS
  .App()
  .ws('/*', {
    maxPayloadLength: 1024 * 1024,
    maxBackpressure: 64 * 1024 * 1024,
    idleTimeout: 0,
    compression: uWS.DISABLED,
    message: (ws, message, isBinary) => {
      ws.send(message, isBinary);
    },
  })
  .any('/*', (res) => {
    res.writeHeader('Content-Type', 'text/plain').end(body);
  })
  .listen(host, Number(portArg), (token) => {
    if (!token) {
      console.error(`ws-echo-origin: cannot listen on ${host}:${portArg}`);
      process.exit(1);
    }
    console.log(JSON.stringify({ msg: 'ready', host, port: Number(portArg) }));
  });
