# modelshift: one image for the worker, the router and the simulator (`npx modelshift <command>`).
# Build: docker build -t modelshift .   Run: docker run --rm modelshift router --help
FROM node:20-bookworm-slim

ENV NODE_ENV=production \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false \
    MODELSHIFT_STATE_DIR=/home/node/.modelshift

WORKDIR /app

# Dependencies first, so this layer is reused while only the sources change.
# Runtime needs tsx (a dependency), not the TypeScript compiler or the test tools.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

COPY --chown=node:node . .
RUN chmod +x bin/modelshift.js && mkdir -p "$MODELSHIFT_STATE_DIR" && chown -R node:node "$MODELSHIFT_STATE_DIR"

USER node
# Router default port; the simulator listens on 8787 when started with `sim`.
EXPOSE 4000 8787
ENTRYPOINT ["npx", "--no-install", "modelshift"]
CMD ["--help"]
