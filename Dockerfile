# One image for every meshbridge role: `docker run meshbridge collector|projector|gateway --config /etc/meshbridge/meshbridge.yaml`
FROM node:20-bookworm-slim
WORKDIR /opt/meshbridge
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY bin ./bin
COPY schemas ./schemas
COPY services ./services
USER node
ENTRYPOINT ["node", "/opt/meshbridge/bin/meshbridge.js"]
