# bsubio images, for cluster mode (see README, "Running a cluster").
#
#   docker build --target server -t bsubio-server .
#   docker build --target worker -t bsubio-worker .
#
# The server image runs an API replica (give it BSUBIO_DATABASE_URL,
# BSUBIO_BLOB_URL and AWS credentials); the worker image runs a remote worker
# agent with the tools behind the built-in types (give it BSUBIO_SERVER and
# BSUBIO_WORKER_TOKEN only). Both are the same build; the worker adds the tools.

FROM node:20-bookworm AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.base.json ./
COPY packages ./packages
# better-sqlite3 builds from source when no prebuilt binary fits.
RUN npm ci --no-audit --no-fund && npm prune --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim AS server
WORKDIR /app
COPY --from=build /app /app
ENV BSUBIO_HOST=0.0.0.0 BSUBIO_PORT=9986 BSUBIO_WORKERS=0 BSUBIO_DATA_DIR=/var/lib/bsubio
EXPOSE 9986
USER node
ENTRYPOINT ["node", "/app/packages/server/bin/bsubio-server.js"]
CMD ["serve"]

FROM node:20-bookworm-slim AS worker
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      bubblewrap util-linux coreutils file bash python3 fonts-dejavu-core \
      poppler-utils tesseract-ocr tesseract-ocr-eng ghostscript pandoc weasyprint \
      ffmpeg imagemagick pocketsphinx pocketsphinx-en-us espeak-ng \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app /app
# bubblewrap needs user namespaces: run with --security-opt seccomp=unconfined
# (or a profile allowing clone/unshare), or as root with --privileged.
ENTRYPOINT ["node", "/app/packages/server/bin/bsubio-server.js", "worker"]
