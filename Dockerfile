# One image for every service; the compose file picks the service with the command.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY dmlib ./dmlib
COPY services ./services
COPY dmtools ./dmtools
COPY config.yaml Procfile ./
RUN pip install --no-cache-dir 'setuptools<81' wheel && pip install --no-cache-dir . \
 && for po in services/gateway/translations/*/LC_MESSAGES/*.po; do pybabel compile -f -i "$po" -o "${po%.po}.mo"; done
RUN useradd --system --uid 10001 app
USER app
