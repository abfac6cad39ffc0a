import type { NextConfig } from "next";

const nextConfig: NextConfig = {
  // The redis client is a Node dependency with optional native bits; keep it external.
  serverExternalPackages: ["redis"],
  // The build checks what it deploys (app, lib, config); tsc --noEmit checks tests and scripts too.
  typescript: { tsconfigPath: "tsconfig.next.json" },
};

export default nextConfig;
