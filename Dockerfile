# Image for deploy/kubernetes/ (and, later, the Helm chart).
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY collector ./collector
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
COPY --from=build /install /usr/local
# A fixed non-root UID, matching runAsUser in the manifests.
USER 65532:65532
EXPOSE 9853
ENTRYPOINT ["adoption-collector"]
CMD ["run", "--config", "/etc/adoption-collector/config.yaml"]
