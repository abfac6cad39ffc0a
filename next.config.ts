import path from "node:path";
import type { NextConfig } from "next";
import { CONFIG_ALIAS, buildDirFor, configFilePath } from "./lib/workspace/config-path";

// The workspace config is bundled: the alias names the file to compile in (or the stand-in).
const configFile = configFilePath(__dirname);
const relativeConfigFile = "./" + path.relative(__dirname, configFile).split(path.sep).join("/");

// This app imports the package by its name, as a site does, compiled from the source (not dist/).
const PACKAGE_ENTRIES: Record<string, string> = {
  "notion-kv-sync": "./lib/package/index.ts",
  "notion-kv-sync/next": "./lib/package/next.ts",
  "notion-kv-sync/config": "./lib/package/config.ts",
};

const nextConfig: NextConfig = {
  distDir: buildDirFor(process.env),
  // The redis client is a Node dependency with optional native bits; keep it external.
  serverExternalPackages: ["redis"],
  turbopack: { resolveAlias: { [CONFIG_ALIAS]: relativeConfigFile, ...PACKAGE_ENTRIES } },
  webpack: (config) => {
    config.resolve.alias[CONFIG_ALIAS] = configFile;
    for (const [name, file] of Object.entries(PACKAGE_ENTRIES))
      config.resolve.alias[`${name}$`] = path.join(__dirname, file);
    return config;
  },
  // The build checks what it deploys (app, lib, config); tsc --noEmit checks tests and scripts too.
  typescript: { tsconfigPath: "tsconfig.next.json" },
};

export default nextConfig;
