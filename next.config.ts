import path from "node:path";
import type { NextConfig } from "next";
import { CONFIG_ALIAS, buildDirFor, configFilePath } from "./lib/workspace/config-path";

// The workspace config is bundled: the alias names the file to compile in (or the stand-in).
const configFile = configFilePath(__dirname);
const relativeConfigFile = "./" + path.relative(__dirname, configFile).split(path.sep).join("/");

const nextConfig: NextConfig = {
  distDir: buildDirFor(process.env),
  // The redis client is a Node dependency with optional native bits; keep it external.
  serverExternalPackages: ["redis"],
  turbopack: { resolveAlias: { [CONFIG_ALIAS]: relativeConfigFile } },
  webpack: (config) => {
    config.resolve.alias[CONFIG_ALIAS] = configFile;
    return config;
  },
  // The build checks what it deploys (app, lib, config); tsc --noEmit checks tests and scripts too.
  typescript: { tsconfigPath: "tsconfig.next.json" },
};

export default nextConfig;
