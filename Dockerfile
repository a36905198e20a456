FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/sales-agent /usr/local/bin/sales-agent
EXPOSE 8080
ENTRYPOINT ["sales-agent"]
CMD ["serve"]
