# flowplan example: build the hello-service jar with Maven, turn it into a container image with
# buildah and push it to a registry (run.sh starts a local one). Offline: mvn -o builds against
# ~/.m2/repository; the image's base comes from var.base_image.

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

# Any registry speaking the Docker Registry HTTP API v2. This one is served over plain HTTP on
# the loopback address, without credentials; for one that asks, add
#   username = "ci"
#   password = var.registry_password        # a variable with sensitive = true
provider "registry" {
  url      = "http://${var.registry_host}"
  insecure = true
}

source "hello" {
  url    = "${path.config}/.flowplan/app.git"
  branch = "master"
}

pipeline "hello" {
  description = "Build the hello-service jar and its image, push the image"
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

  stage "release" {
    task "announce" {
      step "image" {
        type = "command"
        run  = "echo \"ready to deploy ${steps.service.image.image} (tags ${steps.service.image.tags})\""
      }
    }
  }
}
