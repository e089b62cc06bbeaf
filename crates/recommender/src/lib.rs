//! The recommender gRPC service (`aras.recommender.v1.Recommender`): turns a customer's review of
//! a vehicle into the vehicles to propose next, and owns the catalog's vectors.
//!
//! Layout:
//! - [`config`]: settings from flags and `ARAS_*` variables.
//! - `deps`: what handlers share (catalog pool, vector store, sentiment/embedding clients, Redis).
//! - `recommend`: the `Recommend` RPC.
//! - `catalog`: the catalog's reads and writes (`GetVehicle`, `ListVehicles`, `CreateVehicle`…).
//! - `indexing`: `IndexCatalog`, `StartIndexing`, `GetIndexingRun`.
//! - `convert`: catalog types to protobuf.
//! - `error`: the error enum and its one mapping to gRPC statuses.
//!
//! Start-up: migrations run, the port answers at once with health NOT_SERVING, and the service
//! turns SERVING once the embedding service has told the vector dimension and the vector store
//! is open.

mod catalog;
pub mod config;
mod convert;
mod deps;
mod error;
mod indexing;
mod recommend;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use aras_common::correlation::{self, CorrelationId};
use aras_common::tenant;
use aras_proto::recommender::v1::recommender_server::{
    Recommender, RecommenderServer, SERVICE_NAME,
};
use aras_proto::recommender::v1::{
    CatalogStatsRequest, CatalogStatsResponse, DeleteVehicleRequest, DeleteVehicleResponse,
    GetIndexingRunRequest, GetVehicleRequest, IndexCatalogRequest, IndexProgress, IndexingRun,
    ListReviewsRequest, ListReviewsResponse, ListVehiclesRequest, ListVehiclesResponse,
    RecommendRequest, RecommendResponse, StartIndexingRequest, UpdateVehicleRequest,
    UpdateVehicleResponse, Vehicle, WriteVehicleRequest,
};
use aras_vector_store::{CollectionLayout, EdgeStore, ServerStore, VectorStore};

use crate::error::RecommenderError;
use tokio::net::TcpListener;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use tonic_health::ServingStatus;

pub use config::RecommenderConfig;
use deps::Deps;

/// Serves the recommender on `listener` until `shutdown` resolves.
pub async fn serve(
    config: RecommenderConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    config.database.create_database_if_missing().await?;
    let pool = config.database.pool()?;
    let applied = aras_catalog::db::migrate(&pool).await?;
    tracing::info!(applied, "database migrated");
    let deps = Arc::new(Deps::new(config.clone(), pool)?);

    let (health, mut routes) = aras_common::grpc::base_routes(&[SERVICE_NAME]);
    health
        .set_service_status(SERVICE_NAME, ServingStatus::NotServing)
        .await;
    routes.add_service(RecommenderServer::new(RecommenderService {
        deps: Arc::clone(&deps),
    }));
    tracing::info!(addr = %listener.local_addr()?, "recommender service listening");

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        tokio::select! {
            () = shutdown => {}
            _ = stopped => {}
        }
    };
    let mut server = tokio::spawn(aras_common::grpc::serve(
        "recommender",
        listener,
        routes.routes(),
        shutdown,
    ));
    let ready = async {
        let (model, dimension) = deps.embedding_model().await;
        let store = open_store(&config, dimension).await?;
        let (stored, indexed) = (
            store.count().await?,
            aras_catalog::vehicles::count_indexed(&deps.pool).await?,
        );
        // Another model's vectors are not comparable with this one's queries.
        if let Some(before) =
            aras_catalog::vehicles::record_embedding_model(&deps.pool, &model).await?
            && indexed > 0
        {
            tracing::warn!(
                before = before.as_deref().unwrap_or("unrecorded"),
                now = %model,
                "the embedding model changed; marking the catalog for re-indexing"
            );
            aras_catalog::vehicles::mark_all_for_indexing(&deps.pool, None).await?;
        } else if stored < indexed {
            // A store emptied or replaced behind the catalog's back (a deleted directory, a new
            // Qdrant) must not pass for indexed: the next indexing run then re-embeds everything.
            tracing::warn!(
                stored,
                indexed,
                "the vector store lacks indexed vehicles; marking the catalog for re-indexing"
            );
            aras_catalog::vehicles::mark_all_for_indexing(&deps.pool, None).await?;
        }
        deps.set_store(store);
        for (tenant, version) in aras_catalog::vehicles::versions(&deps.pool).await? {
            deps.publish_catalog_version(&tenant, version);
        }
        anyhow::Ok(())
    };
    tokio::select! {
        result = &mut server => return Ok(result??),
        result = ready => if let Err(error) = result {
            let _ = stop.send(());
            let _ = server.await;
            return Err(error.context("recommender cannot start"));
        },
    }
    health
        .set_service_status(SERVICE_NAME, ServingStatus::Serving)
        .await;
    tracing::info!("serving");
    server.await??;
    Ok(())
}

async fn open_store(
    config: &RecommenderConfig,
    dimension: usize,
) -> anyhow::Result<Arc<dyn VectorStore>> {
    let qdrant = &config.qdrant;
    let urls: Vec<String> = qdrant
        .urls
        .iter()
        .map(|url| url.trim())
        .filter(|url| !url.is_empty())
        .map(str::to_owned)
        .collect();
    if urls.is_empty() {
        if qdrant.layout() != CollectionLayout::default() {
            anyhow::bail!(
                "ARAS_QDRANT_SHARDS, ARAS_QDRANT_REPLICATION_FACTOR and \
                 ARAS_QDRANT_WRITE_CONSISTENCY apply to a Qdrant server: set ARAS_QDRANT_URL"
            );
        }
        let store = EdgeStore::open(&config.vector_dir, dimension).await?;
        tracing::info!(dir = %config.vector_dir.display(), dimension, "vector store: embedded");
        Ok(Arc::new(store))
    } else {
        let store = ServerStore::connect(
            &urls,
            aras_vector_store::COLLECTION,
            qdrant.layout(),
            qdrant.timeout,
        )?;
        store.ensure_collection(dimension).await?;
        tracing::info!(nodes = ?urls, layout = ?qdrant.layout(), dimension, "vector store: Qdrant server");
        Ok(Arc::new(store))
    }
}

/// Binds the configured address and serves until SIGTERM or Ctrl-C.
pub async fn run(config: RecommenderConfig) -> anyhow::Result<()> {
    let listener = TcpListener::bind(config.listen_addr).await?;
    serve(config, listener, aras_common::shutdown::signal()).await
}

struct RecommenderService {
    deps: Arc<Deps>,
}

impl RecommenderService {
    async fn write_vehicle(
        &self,
        request: Request<WriteVehicleRequest>,
        create: bool,
    ) -> Result<Response<UpdateVehicleResponse>, Status> {
        let correlation_id = correlation_id(&request);
        let tenant = tenant::of(&request)?;
        let response = catalog::write_vehicle(
            &self.deps,
            &tenant,
            request.get_ref(),
            create,
            &correlation_id,
        )
        .await?;
        Ok(Response::new(response))
    }
}

fn correlation_id<T>(request: &Request<T>) -> CorrelationId {
    CorrelationId::from_header(
        request
            .metadata()
            .get(correlation::HEADER)
            .and_then(|v| v.to_str().ok()),
    )
}

#[tonic::async_trait]
impl Recommender for RecommenderService {
    async fn recommend(
        &self,
        request: Request<RecommendRequest>,
    ) -> Result<Response<RecommendResponse>, Status> {
        let correlation_id = correlation_id(&request);
        let tenant = tenant::of(&request)?;
        let deadline = aras_common::grpc::incoming_deadline(&request);
        let response = recommend::recommend(
            &self.deps,
            &tenant,
            request.into_inner(),
            &correlation_id,
            deadline,
        )
        .await?;
        Ok(Response::new(response))
    }

    async fn get_vehicle(
        &self,
        request: Request<GetVehicleRequest>,
    ) -> Result<Response<Vehicle>, Status> {
        let tenant = tenant::of(&request)?;
        Ok(Response::new(
            catalog::get_vehicle(&self.deps, &tenant, request.into_inner().id).await?,
        ))
    }

    async fn update_vehicle(
        &self,
        request: Request<UpdateVehicleRequest>,
    ) -> Result<Response<UpdateVehicleResponse>, Status> {
        let correlation_id = correlation_id(&request);
        let tenant = tenant::of(&request)?;
        let response =
            catalog::update_vehicle(&self.deps, &tenant, request.into_inner(), &correlation_id)
                .await?;
        Ok(Response::new(response))
    }

    async fn list_vehicles(
        &self,
        request: Request<ListVehiclesRequest>,
    ) -> Result<Response<ListVehiclesResponse>, Status> {
        let tenant = tenant::of(&request)?;
        let response = catalog::list_vehicles(&self.deps, &tenant, request.into_inner()).await?;
        Ok(Response::new(response))
    }

    async fn create_vehicle(
        &self,
        request: Request<WriteVehicleRequest>,
    ) -> Result<Response<UpdateVehicleResponse>, Status> {
        self.write_vehicle(request, true).await
    }

    async fn replace_vehicle(
        &self,
        request: Request<WriteVehicleRequest>,
    ) -> Result<Response<UpdateVehicleResponse>, Status> {
        self.write_vehicle(request, false).await
    }

    async fn delete_vehicle(
        &self,
        request: Request<DeleteVehicleRequest>,
    ) -> Result<Response<DeleteVehicleResponse>, Status> {
        let tenant = tenant::of(&request)?;
        let response =
            catalog::delete_vehicle(&self.deps, &tenant, request.into_inner().id).await?;
        Ok(Response::new(response))
    }

    async fn list_reviews(
        &self,
        request: Request<ListReviewsRequest>,
    ) -> Result<Response<ListReviewsResponse>, Status> {
        let tenant = tenant::of(&request)?;
        let response = catalog::list_reviews(&self.deps, &tenant, request.into_inner()).await?;
        Ok(Response::new(response))
    }

    async fn catalog_stats(
        &self,
        request: Request<CatalogStatsRequest>,
    ) -> Result<Response<CatalogStatsResponse>, Status> {
        let tenant = tenant::of(&request)?;
        let (vehicles, indexed, catalog_version) =
            aras_catalog::vehicles::tenant_counts(&self.deps.pool, &tenant)
                .await
                .map_err(RecommenderError::from)?;
        Ok(Response::new(CatalogStatsResponse {
            vehicles,
            indexed,
            catalog_version,
        }))
    }

    type IndexCatalogStream = Pin<Box<ReceiverStream<Result<IndexProgress, Status>>>>;

    async fn index_catalog(
        &self,
        request: Request<IndexCatalogRequest>,
    ) -> Result<Response<Self::IndexCatalogStream>, Status> {
        let correlation_id = correlation_id(&request);
        let full = request.into_inner().full;
        let permit = self.deps.catalog_indexing_permit().await;
        let (mut progress, receiver) = tokio::sync::mpsc::channel(4);
        let deps = Arc::clone(&self.deps);
        tokio::spawn(async move {
            let _permit = permit;
            let scope = indexing::Scope { tenant: None, full };
            if let Err(error) =
                indexing::index_catalog(&deps, scope, &mut progress, &correlation_id).await
            {
                tracing::warn!(%error, "indexing failed");
                let _ = progress.send(Err(error.into())).await;
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(receiver))))
    }

    async fn start_indexing(
        &self,
        request: Request<StartIndexingRequest>,
    ) -> Result<Response<IndexingRun>, Status> {
        let correlation_id = correlation_id(&request);
        let tenant = tenant::of(&request)?;
        let full = request.into_inner().full;
        let run = indexing::start_indexing(&self.deps, tenant, full, correlation_id).await?;
        Ok(Response::new(convert::indexing_run(&run)))
    }

    async fn get_indexing_run(
        &self,
        request: Request<GetIndexingRunRequest>,
    ) -> Result<Response<IndexingRun>, Status> {
        let tenant = tenant::of(&request)?;
        let run = indexing::get_indexing_run(&self.deps, &tenant, &request.into_inner().id).await?;
        Ok(Response::new(convert::indexing_run(&run)))
    }
}
