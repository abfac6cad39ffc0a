/** Stands in for notion-kv-sync.config.ts when a deployment has none (see lib/workspace/config-path.ts). */
const noConfigFile: undefined = undefined;
export default noConfigFile;
