// Placeholder until the factory station exists (see scripts/demo).
console.log('espfleet demo: the factory-station demo is not built yet.');
