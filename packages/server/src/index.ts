export * from './config/index.js';
export { runSupervisor } from './cluster/supervisor.js';
export { mountHttp, type HttpFrontendOptions } from './frontend/http.js';
export { loadUws } from './frontend/uws.js';
export { startDemoOrigin } from './demo-origin.js';
