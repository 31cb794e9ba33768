'use strict';
// A real Backstage backend with only the catalog: the end-to-end test starts it with
// `node index.js --config app-config.yaml` and stops it by its PID.
const { createBackend } = require('@backstage/backend-defaults');

const backend = createBackend();
backend.add(import('@backstage/plugin-catalog-backend'));
backend.add(import('@backstage/plugin-catalog-backend-module-scaffolder-entity-model'));
backend.start();
