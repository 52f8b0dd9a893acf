//! get-status against real stores (PostgreSQL, Redis, moto's DynamoDB, S3
//! and Secrets Manager): each layer answering in turn and lower layers
//! cached again, the same 404 for other users' and unknown jobs, presigned
//! URLs that download the outputs, Redis down, and the built binary
//! through the Lambda Runtime API.

mod common;

use common::{event, parts, typed, Fixture};
use get_status::{respond, Config, Service, Stores};
use lambda_shared::testing::{invoke_binary, start_failure, unique, Outcome};
use media_core::job::{Job, JobStatus};
use media_core::MediaType;
use media_stores::postgres::{NewJob, StoredOutput};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const NOW: i64 = 1_795_305_600; // 2026-11-22

fn service(fx: &Fixture, bucket: &str, ttl: u64) -> Service {
    Service {
        config: Config {
            bucket: bucket.into(),
            url_ttl: Duration::from_secs(ttl),
        },
        stores: Stores::new(&fx.sdk, fx.db.clone(), fx.cache.clone(), fx.table.clone()),
        s3: lambda_shared::config::s3_client(&fx.sdk),
    }
}

/// `GET /status/{id}` as the HTTP API sends it.
fn get_event(job_id: &str, user: Option<&str>) -> Value {
    let route = "GET /status/{jobId}";
    let mut e = event(route, &Value::Null, user);
    e.as_object_mut().unwrap().remove("body");
    e["rawPath"] = json!(format!("/status/{job_id}"));
    e["requestContext"]["http"]["path"] = json!(format!("/status/{job_id}"));
    e["pathParameters"] = json!({"jobId": job_id});
    e
}

async fn get(svc: &Service, job_id: &str, user: Option<&str>) -> (u16, Value) {
    let req = typed(get_event(job_id, user));
    let (status, _, body) = parts(&respond(svc.handle(&req).await, "req-test"));
    (status, body)
}

fn new_job(user: &str, media_type: MediaType) -> Job {
    Job::new(
        uuid::Uuid::new_v4().to_string(),
        user,
        media_type,
        "flux-schnell",
        NOW,
    )
}

async fn insert(fx: &Fixture, job: &Job) {
    fx.jobs()
        .insert(&NewJob {
            job,
            model_version: "black-forest-labs/flux-schnell",
            input: &json!({"prompt": "x"}),
        })
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn each_layer_answers_in_turn_and_lower_layers_are_cached_again() {
    let fx = Fixture::new().await;
    let svc = service(&fx, "unused", 60);
    let user = unique("user");
    let cache = fx.cache_store();

    // Only in PostgreSQL: the database answers, and Redis learns the job.
    let mut in_db = new_job(&user, MediaType::Video);
    insert(&fx, &in_db).await;
    in_db.prediction_id = Some("p-db".into());
    in_db.transition(JobStatus::Processing, NOW + 5).unwrap();
    assert!(fx.jobs().update(&in_db).await.unwrap());
    assert!(cache.status(&in_db.job_id).await.unwrap().is_none());
    let (status, body) = get(&svc, &in_db.job_id, Some(&user)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"jobId": in_db.job_id, "status": "processing", "mediaType": "video",
               "model": "flux-schnell", "createdAt": NOW, "updatedAt": NOW + 5,
               "outputs": [], "source": "database"})
    );
    assert_eq!(cache.status(&in_db.job_id).await.unwrap().unwrap(), in_db);
    let (_, body) = get(&svc, &in_db.job_id, Some(&user)).await;
    assert_eq!(body["source"], "cache", "{body}");
    assert_eq!(body["status"], "processing");

    // In the realtime table (and PostgreSQL): the realtime table answers
    // first, with its own version of the job.
    let mut in_rt = new_job(&user, MediaType::Audio);
    insert(&fx, &in_rt).await;
    in_rt.fail("CUDA out of memory", NOW + 9).unwrap();
    fx.realtime().put(&in_rt).await.unwrap();
    let (status, body) = get(&svc, &in_rt.job_id, Some(&user)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["source"], "realtime");
    assert_eq!(body["status"], "failed");
    assert_eq!(body["error"], "CUDA out of memory");
    assert_eq!(cache.status(&in_rt.job_id).await.unwrap().unwrap(), in_rt);

    // Only in Redis.
    let in_cache = new_job(&user, MediaType::Image);
    cache.put_status(&in_cache).await.unwrap();
    let (status, body) = get(&svc, &in_cache.job_id, Some(&user)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["source"].clone(), body["status"].clone()),
        (json!("cache"), json!("pending"))
    );
    assert!(body.get("error").is_none(), "{body}");

    // The id is matched whatever its case.
    let (status, body) = get(&svc, &in_db.job_id.to_uppercase(), Some(&user)).await;
    assert_eq!(
        (status, body["jobId"].as_str()),
        (200, Some(in_db.job_id.as_str()))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn other_users_jobs_unknown_and_malformed_ids_all_get_the_same_404() {
    let fx = Fixture::new().await;
    let svc = service(&fx, "unused", 60);
    let owner = unique("owner");
    // One job in each layer, so each layer's answer is checked.
    let in_db = new_job(&owner, MediaType::Image);
    insert(&fx, &in_db).await;
    let in_rt = new_job(&owner, MediaType::Image);
    fx.realtime().put(&in_rt).await.unwrap();
    let in_cache = new_job(&owner, MediaType::Image);
    fx.cache_store().put_status(&in_cache).await.unwrap();

    let intruder = unique("intruder");
    let unknown = uuid::Uuid::new_v4().to_string();
    let mut answers = Vec::new();
    for id in [
        in_db.job_id.as_str(),
        in_rt.job_id.as_str(),
        in_cache.job_id.as_str(),
        unknown.as_str(),
        "not-a-job",
        "../etc/passwd",
    ] {
        let (status, body) = get(&svc, id, Some(&intruder)).await;
        assert_eq!(status, 404, "{id}: {body}");
        answers.push(body);
    }
    assert!(
        answers
            .iter()
            .all(|a| *a == json!({"error": "job not found"})),
        "{answers:?}"
    );
    // The owner sees them all; nobody without the authorizer sees any.
    for id in [&in_db.job_id, &in_rt.job_id, &in_cache.job_id] {
        assert_eq!(get(&svc, id, Some(&owner)).await.0, 200);
        assert_eq!(get(&svc, id, None).await.0, 401);
    }
}

/// Plain HTTP GET of a URL (no token is sent by this client's downloads).
fn download(url: &str) -> Vec<u8> {
    let http = media_core::replicate::Client::new(&media_core::replicate::ReplicateConfig {
        base_url: "http://127.0.0.1:1".into(),
        token: "unused".into(),
        timeout: Duration::from_secs(10),
    })
    .unwrap();
    http.download(url, 1 << 20)
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_succeeded_job_has_presigned_urls_that_download_its_outputs() {
    let fx = Fixture::new().await;
    let s3 = lambda_shared::config::s3_client(&fx.sdk);
    let bucket = unique("media");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let svc = service(&fx, &bucket, 900);
    let user = unique("user");
    let mut job = new_job(&user, MediaType::Image);
    insert(&fx, &job).await;
    let files: Vec<(String, Vec<u8>)> = (0..2)
        .map(|n| {
            let key = media_core::layout::media_key(
                MediaType::Image,
                &user,
                &job.job_id,
                NOW,
                &format!("original-{n}.png"),
            )
            .unwrap();
            (key, format!("\u{89}PNG image {n}").into_bytes())
        })
        .collect();
    for (key, bytes) in &files {
        s3.put_object()
            .bucket(&bucket)
            .key(key)
            .body(bytes.clone().into())
            .send()
            .await
            .unwrap();
    }
    let outputs: Vec<StoredOutput> = files
        .iter()
        .map(|(key, bytes)| StoredOutput {
            key: key.clone(),
            content_type: "image/png".into(),
            size: bytes.len() as u64,
            sha256: "0".repeat(64),
        })
        .collect();
    job.prediction_id = Some("p-ok".into());
    job.succeed(files.iter().map(|(k, _)| k.clone()).collect(), NOW + 30)
        .unwrap();
    assert!(fx.jobs().finish(&job, &outputs).await.unwrap());

    let (status, body) = get(&svc, &job.job_id, Some(&user)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "succeeded");
    assert_eq!(body["source"], "database");
    let listed = body["outputs"].as_array().unwrap();
    assert_eq!(listed.len(), 2);
    for (output, (key, bytes)) in listed.iter().zip(&files) {
        assert_eq!(output["key"], key.as_str());
        let url = output["url"].as_str().unwrap();
        assert!(url.contains("X-Amz-Expires=900"), "{url}");
        assert!(url.contains(&bucket), "{url}");
        assert_eq!(&download(url), bytes);
    }
    // The cached copy answers next, with fresh URLs that work as well.
    let (_, body) = get(&svc, &job.job_id, Some(&user)).await;
    assert_eq!(body["source"], "cache");
    assert_eq!(
        download(body["outputs"][1]["url"].as_str().unwrap()),
        files[1].1
    );

    // A job that has not succeeded lists no outputs, even with keys.
    let mut running = new_job(&user, MediaType::Image);
    running.outputs = vec![files[0].0.clone()];
    running.status = JobStatus::Processing;
    fx.realtime().put(&running).await.unwrap();
    let (status, body) = get(&svc, &running.job_id, Some(&user)).await;
    assert_eq!(
        (status, body["outputs"].clone()),
        (200, json!([])),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn with_redis_down_the_next_layers_answer() {
    let mut fx = Fixture::new().await;
    let user = unique("user");
    let in_rt = new_job(&user, MediaType::Video);
    fx.realtime().put(&in_rt).await.unwrap();
    let in_db = new_job(&user, MediaType::Video);
    insert(&fx, &in_db).await;
    // Nothing listens there.
    fx.cache.port = lambda_shared::testing::free_port();
    let svc = service(&fx, "unused", 60);
    let started = Instant::now();
    let (status, body) = get(&svc, &in_rt.job_id, Some(&user)).await;
    assert_eq!(
        (status, body["source"].clone()),
        (200, json!("realtime")),
        "{body}"
    );
    let (status, body) = get(&svc, &in_db.job_id, Some(&user)).await;
    assert_eq!(
        (status, body["source"].clone()),
        (200, json!("database")),
        "{body}"
    );
    let (status, _) = get(&svc, &uuid::Uuid::new_v4().to_string(), Some(&user)).await;
    assert_eq!(status, 404);
    // Each request waits for Redis at most about a second.
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
}

fn binary_env(fx: &Fixture, bucket: &str) -> Vec<(String, String)> {
    let mut env = fx.env();
    env.push(("MEDIA_BUCKET".into(), bucket.into()));
    env.push(("URL_TTL_SECS".into(), "120".into()));
    env
}

#[test]
fn the_built_binary_serves_requests_through_the_runtime_api() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let fx = rt.block_on(Fixture::new());
    let bucket = unique("media");
    let user = unique("user");
    let mut job = new_job(&user, MediaType::Audio);
    let key =
        media_core::layout::media_key(MediaType::Audio, &user, &job.job_id, NOW, "original.mp3")
            .unwrap();
    rt.block_on(async {
        let s3 = lambda_shared::config::s3_client(&fx.sdk);
        s3.create_bucket().bucket(&bucket).send().await.unwrap();
        s3.put_object()
            .bucket(&bucket)
            .key(&key)
            .body(b"ID3 audio".to_vec().into())
            .send()
            .await
            .unwrap();
        insert(&fx, &job).await;
        job.succeed(vec![key.clone()], NOW + 40).unwrap();
        fx.realtime().put(&job).await.unwrap();
    });
    let out = invoke_binary(
        env!("CARGO_BIN_EXE_get-status"),
        vec![
            get_event(&job.job_id, Some(&user)),
            get_event(&job.job_id, Some("someone-else")),
            get_event("nope", Some(&user)),
        ],
        &binary_env(&fx, &bucket),
    );
    let response = |i: usize| match &out[i] {
        Outcome::Response(r) => {
            let body: Value = serde_json::from_str(r["body"].as_str().unwrap()).unwrap();
            (r["statusCode"].as_u64().unwrap(), body)
        }
        other => panic!("{other:?}"),
    };
    let (status, body) = response(0);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["source"], "realtime");
    assert_eq!(body["outputs"][0]["key"], key.as_str());
    let url = body["outputs"][0]["url"].as_str().unwrap();
    assert!(url.contains("X-Amz-Expires=120"), "{url}");
    assert_eq!(download(url), b"ID3 audio");
    assert_eq!(response(1), (404, json!({"error": "job not found"})));
    assert_eq!(response(2), (404, json!({"error": "job not found"})));
}

#[test]
fn the_binary_refuses_to_start_without_its_configuration() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let fx = rt.block_on(Fixture::new());
    let full = binary_env(&fx, "media");
    for missing in [
        "MEDIA_BUCKET",
        "REALTIME_TABLE",
        "DB_SECRET_ARN",
        "CACHE_HOST",
    ] {
        let env: Vec<_> = full.iter().filter(|(k, _)| k != missing).cloned().collect();
        let err = start_failure(env!("CARGO_BIN_EXE_get-status"), &env);
        assert!(err.contains(missing), "{missing}: {err}");
    }
    let mut bad = full.clone();
    bad.push(("URL_TTL_SECS".into(), "0".into()));
    let err = start_failure(env!("CARGO_BIN_EXE_get-status"), &bad);
    assert!(err.contains("URL_TTL_SECS"), "{err}");
}
