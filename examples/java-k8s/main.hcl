# flowplan example: build the hello-service jar with Maven, turn it into a container image with
# buildah, push it to a registry, and deploy it to Kubernetes blue/green with kubectl_apply.
# run.sh starts a local registry and, unless you name a cluster, the Kubernetes API emulator of
# flowplan's tests. Offline: mvn -o builds against ~/.m2/repository.

flowplan {
  tools {
    jdk = { "17" = "/usr/lib/jvm/java-17-openjdk-amd64" }
  }
}

variable "registry_host" {
  description = "HOST:PORT of the registry images are pushed to"
  default     = "127.0.0.1:5000"
}

variable "base_image" {
  description = "The Java runtime image the service's image starts from"
  default     = "docker.io/library/eclipse-temurin:17-jre"
}

variable "kubeconfig" {
  description = "The kubeconfig file of the cluster to deploy to (run.sh sets it)"
}

variable "kube_context" {
  description = "The context of that kubeconfig to use"
  default     = "emulator"
}

provider "registry" {
  url      = "http://${var.registry_host}"
  insecure = true
}

# Every kubectl_apply step deploys here unless it names a `cluster` of its own.
provider "kubernetes" {
  kubeconfig = var.kubeconfig
  context    = var.kube_context
}

source "hello" {
  url    = "${path.config}/.flowplan/app.git"
  branch = "master"
}

pipeline "hello" {
  description = "Build the hello service and its image, deploy it blue/green"
  source      = source.hello

  stage "build" {
    task "service" {
      step "jar" {
        type    = "java_build"
        command = "mvn -o -B package"
        jdk     = "17"
      }
      step "image" {
        type       = "image_build"
        dockerfile = "Dockerfile"
        context    = "."
        repository = "${var.registry_host}/demo/hello-service"
        tags       = ["${run.number}", "${run.commit_short}"]
        build_args = { BASE = var.base_image }
        insecure   = true
        timeout    = "10m"
      }
    }
  }

  stage "deploy" {
    task "cluster" {
      step "apply" {
        type      = "kubectl_apply"
        namespace = "default"
        manifests = "k8s"
        variables = { IMAGE = steps.service.image.image }
        strategy  = "blue_green"
        timeout   = "2m"
        blue_green {
          service  = "hello"
          keep_old = true          # the colour that served before keeps running: rollback
        }
      }
    }
  }
}
