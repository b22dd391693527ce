/**
 * Image tier: the ECR repository and the service image built from api/Dockerfile with the repository root
 * as build context. Tasks run the image by digest (`imageUri` is `repo@sha256:...`), so a task definition
 * keeps pointing at exactly the bytes it was deployed with, and every pushed image stays in the repository
 * (until the lifecycle policy expires it) so older task definitions remain valid rollback targets.
 */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as awsx from '@pulumi/awsx';
import * as pulumi from '@pulumi/pulumi';
import type { Settings } from './config.js';

/** Images kept whatever their tags: the running one and every rollback target of the last weeks. */
export const KEEP_IMAGES = 30;
/** Untagged images (left behind by a re-pushed tag or an interrupted push) are expired after this. */
export const UNTAGGED_EXPIRY_DAYS = 14;

/**
 * The one mutable tag of the repository: BuildKit's layer cache (every stage, `mode=max`), read by each build
 * and rewritten after it. Image tags (commits) are immutable.
 */
export const CACHE_TAG = 'buildcache';

export const DOCKER_BUILD_IMAGE_TYPE = 'docker-build:index:Image';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * Applied to the children of `awsx.ecr.Image` (a transform is the only way to reach them):
 * - the docker-build image is named after its tag, so each release's image is a new resource and the previous
 *   one is deleted at the end of the update, and deleting it deletes its manifest from ECR. `retainOnDelete`
 *   keeps the pushed image: the previous task definitions stay runnable, the lifecycle policy expires them;
 * - awsx only writes an inline cache (the final stage's layers); the registry cache of every stage goes to the
 *   stable CACHE_TAG that the build's `cacheFrom` reads. ECR needs the OCI image-manifest form for it.
 */
export const keepPushedImages: pulumi.ResourceTransform = (args) => {
  if (args.type !== DOCKER_BUILD_IMAGE_TYPE) return undefined;
  const cacheRefs = ((args.props.cacheFrom ?? []) as { registry?: { ref?: string } }[])
    .map((c) => c.registry?.ref)
    .filter((ref): ref is string => typeof ref === 'string' && ref.endsWith(`:${CACHE_TAG}`));
  return {
    props: {
      ...args.props,
      cacheTo: [
        { inline: {} },
        ...cacheRefs.map((ref) => ({ registry: { ref, mode: 'max', imageManifest: true, ociMediaTypes: true } })),
      ],
    },
    opts: pulumi.mergeOptions(args.opts, { retainOnDelete: true }),
  };
};

/**
 * Build paths relative to the program's working directory, so the image's inputs (and its default tag,
 * which hashes them) are the same on every machine, wherever the repository is checked out.
 */
export function buildPaths(cwd: string = process.cwd()): { context: string; dockerfile: string } {
  const rel = (p: string) => path.relative(cwd, p).split(path.sep).join('/') || '.';
  return { context: rel(REPO_ROOT), dockerfile: rel(path.join(REPO_ROOT, 'api', 'Dockerfile')) };
}

export interface ImageTier {
  repository: awsx.ecr.Repository;
  image: awsx.ecr.Image;
}

export function createImageTier(settings: Settings): ImageTier {
  const repository = new awsx.ecr.Repository('api', {
    imageScanningConfiguration: { scanOnPush: true },
    // A tag names one build forever (the commit); only the build cache is rewritten.
    imageTagMutability: 'IMMUTABLE_WITH_EXCLUSION',
    imageTagMutabilityExclusionFilters: [{ filterType: 'WILDCARD', filter: CACHE_TAG }],
    forceDelete: !settings.protectData,
    lifecyclePolicy: {
      rules: [
        {
          description: `Expire untagged images after ${UNTAGGED_EXPIRY_DAYS} days`,
          tagStatus: 'untagged',
          maximumAgeLimit: UNTAGGED_EXPIRY_DAYS,
        },
        {
          description: `Keep the ${KEEP_IMAGES} most recent images (running and rollback targets)`,
          tagStatus: 'any',
          maximumNumberOfImages: KEEP_IMAGES,
        },
      ],
    },
  });

  const image = new awsx.ecr.Image(
    'api',
    {
      repositoryUrl: repository.url,
      ...buildPaths(),
      platform: settings.task.platform,
      imageTag: settings.imageTag,
      // Stable across builds (awsx's default reads the new tag, which never exists yet: no cache at all).
      cacheFrom: [pulumi.interpolate`${repository.url}:${CACHE_TAG}`],
    },
    { transforms: [keepPushedImages] },
  );

  return { repository, image };
}
