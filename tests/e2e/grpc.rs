//! What every backend port says about itself over gRPC: reflection (v1 and v1alpha) lists
//! exactly the services that port answers, health included.

use std::collections::BTreeSet;
use std::net::SocketAddr;

use tonic::transport::Channel;

use crate::helpers::backends;

const COMMON: [&str; 3] = [
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
];

async fn channel(addr: SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .expect("the backend listens")
}

/// The services a reflection client of protocol version `$version` is told about.
macro_rules! listed {
    ($version:ident, $addr:expr) => {{
        use tonic_reflection::pb::$version::{
            ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
            server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
        };
        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut stream = ServerReflectionClient::new(channel($addr).await)
            .server_reflection_info(tokio_stream::iter([request]))
            .await
            .expect("reflection is served")
            .into_inner();
        let response = stream.message().await.unwrap().expect("one answer");
        let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
            panic!("not a service list: {response:?}")
        };
        list.service
            .into_iter()
            .map(|s| s.name)
            .collect::<BTreeSet<String>>()
    }};
}

#[tokio::test]
async fn reflection_lists_exactly_each_servers_own_services() {
    let b = backends();
    for (addr, own) in [
        (
            b.ranking,
            &["aras.ranking.v1.Ranking", "aras.ranking.v1.Fleet"][..],
        ),
        (b.sentiment, &["aras.sentiment.v1.Sentiment"]),
        (b.embedding, &["aras.embedding.v1.Embedding"]),
        (b.recommender, &["aras.recommender.v1.Recommender"]),
    ] {
        let expected: BTreeSet<String> =
            COMMON.iter().chain(own).map(|s| (*s).to_owned()).collect();
        assert_eq!(listed!(v1, addr), expected, "v1 on the {own:?} port");
        assert_eq!(
            listed!(v1alpha, addr),
            expected,
            "v1alpha on the {own:?} port"
        );
    }
}
