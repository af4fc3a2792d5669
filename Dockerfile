# bsubio images (see deploy/README.md; no image is built on the project's CI
# machine, which has no container engine — test/install.test.ts runs these
# same npm steps and entry points instead).
#
#   docker build --target server -t bsubio-server .
#   docker build --target worker -t bsubio-worker .
#   docker build --target single -t bsubio .
#
# server: an API replica of a cluster (BSUBIO_DATABASE_URL, BSUBIO_BLOB_URL,
#   BSUBIO_WORKERS=0), without the tools: worker containers do the jobs.
# worker: the remote worker agent (@bsubio/worker alone, with the tools behind
#   the built-in types); give it BSUBIO_SERVER and BSUBIO_WORKER_TOKEN.
# single: the whole service on one node, with the tools and in-process
#   workers; SQLite and files in the /var/lib/bsubio volume.
#
# Both install the packed npm packages, exactly as `npm install @bsubio/server`
# would from the registry: no sources, tests or dev dependencies inside.

FROM node:24-bookworm AS build
WORKDIR /src
# The manifests first: a change to the code alone keeps this dependency layer.
COPY package.json package-lock.json ./
COPY bench/package.json bench/
COPY packages/protocol/package.json packages/protocol/
COPY packages/worker/package.json packages/worker/
COPY packages/server/package.json packages/server/
COPY packages/sdk/package.json packages/sdk/
COPY packages/cli/package.json packages/cli/
COPY packages/web/package.json packages/web/
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.base.json ./
COPY packages ./packages
RUN npm run build \
 && mkdir /packs \
 && for p in protocol worker web server; do \
      npm pack --ignore-scripts --pack-destination /packs -w "packages/$p"; \
    done

FROM node:24-bookworm-slim AS server
WORKDIR /app
COPY --from=build /packs /tmp/packs
RUN npm install --omit=dev --no-audit --no-fund \
      /tmp/packs/bsubio-protocol-*.tgz /tmp/packs/bsubio-worker-*.tgz \
      /tmp/packs/bsubio-web-*.tgz /tmp/packs/bsubio-server-*.tgz \
 && rm -rf /tmp/packs /root/.npm \
 && mkdir -p /var/lib/bsubio \
 && chown node:node /var/lib/bsubio
ENV BSUBIO_HOST=0.0.0.0 BSUBIO_PORT=9986 BSUBIO_DATA_DIR=/var/lib/bsubio BSUBIO_WORKERS=0
VOLUME /var/lib/bsubio
EXPOSE 9986
USER node
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.BSUBIO_PORT || 9986}/readyz`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["/app/node_modules/.bin/bsubio-server"]
CMD ["serve"]

# The tools behind the built-in processing types, and bubblewrap for the sandbox.
FROM node:24-bookworm-slim AS tools
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      bubblewrap util-linux coreutils file bash python3 fonts-dejavu-core \
      poppler-utils tesseract-ocr tesseract-ocr-eng ghostscript pandoc weasyprint \
      ffmpeg imagemagick pocketsphinx pocketsphinx-en-us espeak-ng \
      libreoffice-writer-nogui libreoffice-calc-nogui libreoffice-impress-nogui \
      ocrmypdf qpdf img2pdf librsvg2-bin \
      latexmk texlive-latex-base texlive-latex-recommended texlive-fonts-recommended \
 && rm -rf /var/lib/apt/lists/*
# bubblewrap needs user namespaces: run with --security-opt seccomp=unconfined
# (or a profile allowing clone/unshare), or as root with --privileged.

FROM tools AS worker
WORKDIR /app
COPY --from=build /packs /tmp/packs
# A compiler only while npm installs: @bsubio/worker's install builds its C
# sandbox launcher (without one, sandboxes start from the Perl launcher).
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends tcc libc6-dev \
 && npm install --omit=dev --no-audit --no-fund \
      /tmp/packs/bsubio-protocol-*.tgz /tmp/packs/bsubio-worker-*.tgz \
 && apt-get purge -y -qq tcc libc6-dev && apt-get autoremove -y -qq \
 && rm -rf /tmp/packs /root/.npm /var/lib/apt/lists/*
ENTRYPOINT ["/app/node_modules/.bin/bsubio-worker"]

# single: the whole service on one node (SQLite, files, in-process workers),
# with the tools; deploy/compose.single.yaml runs it.
FROM tools AS single
WORKDIR /app
COPY --from=build /packs /tmp/packs
# The compiler for the C sandbox launcher, as in the worker image.
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends tcc libc6-dev \
 && npm install --omit=dev --no-audit --no-fund \
      /tmp/packs/bsubio-protocol-*.tgz /tmp/packs/bsubio-worker-*.tgz \
      /tmp/packs/bsubio-web-*.tgz /tmp/packs/bsubio-server-*.tgz \
 && apt-get purge -y -qq tcc libc6-dev && apt-get autoremove -y -qq \
 && rm -rf /tmp/packs /root/.npm /var/lib/apt/lists/* \
 && mkdir -p /var/lib/bsubio
ENV BSUBIO_HOST=0.0.0.0 BSUBIO_PORT=9986 BSUBIO_DATA_DIR=/var/lib/bsubio
VOLUME /var/lib/bsubio
EXPOSE 9986
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.BSUBIO_PORT || 9986}/readyz`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["/app/node_modules/.bin/bsubio-server"]
CMD ["serve"]
