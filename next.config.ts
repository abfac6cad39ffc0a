import type { NextConfig } from "next";

const nextConfig: NextConfig = {
  // The redis client is a Node dependency with optional native bits; keep it external.
  serverExternalPackages: ["redis"],
};

export default nextConfig;
