# Hearth: one image for the web process (daphne serves HTTP and websockets) and for
# one-off commands such as migrate.
FROM python:3.12-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
RUN useradd --system --create-home hearth
COPY requirements-prod.lock ./
RUN pip install --no-cache-dir -r requirements-prod.lock
COPY . .
# collectstatic needs a key to import settings; the real one comes at run time.
RUN SECRET_KEY=build-only DEBUG=false ALLOWED_HOSTS=localhost python manage.py collectstatic --noinput
USER hearth
EXPOSE 8000
# Migrations run once, not in every replica: the compose `migrate` service does it, or
# run `python manage.py migrate` yourself before starting the replicas.
CMD ["sh", "-c", "exec daphne -b 0.0.0.0 -p 8000 --proxy-headers config.asgi:application"]
