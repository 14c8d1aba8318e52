FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY billing ./billing
COPY config ./config
RUN pip install --no-cache-dir -e .
ENV MW_CONFIG_DIR=/app/config
EXPOSE 8080
CMD ["meterway", "serve"]
