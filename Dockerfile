# One image for web and worker; docker-compose.yml picks the command.
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY pyproject.toml README.md ./
COPY loop ./loop
COPY workers ./workers
RUN pip install --no-cache-dir . \
    && useradd --create-home --uid 10001 loop \
    && mkdir -p /app/lfs && chown loop /app/lfs
USER loop
EXPOSE 8000
CMD ["gunicorn", "-k", "gthread", "--threads", "8", "-w", "2", "-b", "0.0.0.0:8000", \
     "--no-control-socket", "loop.web:create_app()"]
