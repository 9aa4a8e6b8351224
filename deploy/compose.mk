# ALO as services with docker compose; the top-level Makefile includes this.
#
#   make images                  build alo-gateway and alo-presence from binaries compiled here (no registry)
#   make secrets                 the NATS passwords, one per user, in deploy/.secrets (kept if there)
#   make up [ALO_GATEWAYS=3]     images and secrets, then start nats, presence and the gateways
#   make down                    stop and remove the stack (containers, network)
#   make logs                    follow the stack's logs
#   make test-compose            the end-to-end proof (deploy/test-compose.sh): installs and
#                                starts a Docker engine if there is none, needs root then
#
# `docker compose` (v2) when the docker CLI has it, else the standalone docker-compose.
COMPOSE ?= $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose)
ALO_GATEWAYS ?= 3
ALO_IMAGE_VERSION = $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
ALO_IMAGE_COMMIT = $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)

.PHONY: images secrets up down logs test-compose

images: ## build the alo-gateway and alo-presence images from binaries compiled here (no registry)
	ALO_VERSION="$(ALO_IMAGE_VERSION)" ALO_COMMIT="$(ALO_IMAGE_COMMIT)" bash deploy/build-images.sh

secrets: ## make the NATS passwords of the compose stack in deploy/.secrets (existing ones are kept)
	$(GO) run ./deploy/natssecrets -dir deploy/.secrets -dev-auth

up: images secrets ## start nats, presence and ALO_GATEWAYS (3) gateways with docker compose
	$(COMPOSE) up -d --no-build --scale gateway=$(ALO_GATEWAYS)
	$(COMPOSE) ps

down: ## stop and remove the compose stack
	$(COMPOSE) down --remove-orphans

logs: ## follow the compose stack's logs
	$(COMPOSE) logs -f --tail=100

test-compose: ## prove the compose deployment end to end (installs and starts Docker if absent; root)
	bash deploy/test-compose.sh
